// The bridged Keycloak plugin's requests, seen through a proxy in front of the local Keycloak while the
// identity part's first `up` runs (scripts/toolchain/go/keycloak/patches/0005: the server info read
// once per provider process instead of at each login and before each realm and client create).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";
import { HttpGate, httpGate } from "../support/http-gate";
import { projectConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { useEnvironment } from "../../localenv";

describe("the Keycloak plugin against the local Keycloak", { timeout: 600_000 }, () => {
    let gate: HttpGate;
    let e: EphemeralStack | undefined;
    let renderDir: string;

    before(async () => {
        const env = await useEnvironment();
        gate = await httpGate(env.keycloak.url);
        renderDir = fs.mkdtempSync(path.join(os.tmpdir(), "keycloak-plugin-render-"));
        const { config } = projectConfig(env, "kcp", {
            "cytomine-fallback:renderDir": renderDir,
            "cytomine-fallback:keycloakUrl": gate.url,
        });
        e = await createEphemeralStack({ workDir: repoRoot, config, env: { KUBECONFIG: env.kube.kubeconfig } });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
    });
    after(async () => {
        try {
            if (e) await disposeEphemeralStack(e);
        } finally {
            await gate?.close();
            if (renderDir) fs.rmSync(renderDir, { recursive: true, force: true });
        }
    });

    /** The plugin's requests (the Terraform plugin SDK's User-Agent), not the program's own. */
    const byPlugin = (method: string, pattern: RegExp, status: number) =>
        gate.requests.filter(
            (r) =>
                /Terraform Plugin SDK/.test(r.userAgent) &&
                r.method === method &&
                pattern.test(r.url) &&
                r.status === status,
        );

    it("logs in once and reads the server info once, not at each login and before each realm and client create", () => {
        const realms = byPlugin("POST", /\/admin\/realms$/, 201).length;
        const clients = byPlugin("POST", /\/admin\/realms\/[^/]+\/clients$/, 201).length;
        const logins = byPlugin("POST", /\/realms\/master\/protocol\/openid-connect\/token$/, 200).length;
        const serverInfo = byPlugin("GET", /\/admin\/serverinfo$/, 200).length;
        const refused = gate.requests.filter((r) => /Terraform Plugin SDK/.test(r.userAgent) && r.status === 401);
        // Without the patch: two logins (the requests sent during the first went out without a token),
        // and one server info read per login, per realm and per client: six here.
        assert.ok(realms >= 2 && clients >= 2, `the up created ${realms} realms and ${clients} clients`);
        assert.deepEqual(
            { logins, serverInfo, refused: refused.map((r) => `${r.method} ${r.url}`) },
            { logins: 1, serverInfo: 1, refused: [] },
        );
    });
});
